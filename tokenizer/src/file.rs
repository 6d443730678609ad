//! Our JSON tokenizer file format: kind, pattern, ranks or characters,
//! special tokens, format version. Loading validates everything.
