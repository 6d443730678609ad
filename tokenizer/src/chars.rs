//! The character vocabulary: one token per distinct character of the corpus,
//! ids in sorted character order (tinyshakespeare: `'\n'` = 0, `' '` = 1, ...).
