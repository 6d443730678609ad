//! The llm.c shard format: a 1024-byte header of 256 little-endian i32
//! (`[0]` magic, `[1]` version, `[2]` token count, rest zero), then the tokens.
//! Magic 20240520 + version 1: u16 tokens; magic 20240801 + version 7: u32.
