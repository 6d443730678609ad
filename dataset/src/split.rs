//! The train/validation split, made on the text before tokenization: for each
//! file, the last `val_fraction` of its bytes, moved forward to just after the
//! next newline, is validation.
