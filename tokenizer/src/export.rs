//! Exports: Hugging Face `tokenizer.json` and tiktoken's base64 rank file.
