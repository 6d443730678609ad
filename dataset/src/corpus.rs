//! The input corpus: files and directories, walked recursively in sorted
//! order; every regular file is one document, read as raw bytes.
