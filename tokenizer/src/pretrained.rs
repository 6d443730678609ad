//! The pretrained OpenAI vocabularies, loaded offline through `tiktoken-rs`.
