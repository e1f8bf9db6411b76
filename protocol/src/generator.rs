//! The built-in in-domain phrase generator: a word-level n-gram model whose sampler chooses
//! uniformly among the K most frequent continuations, so that every phrase of L tokens has
//! probability exactly K^-L.
