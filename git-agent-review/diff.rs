//! An agent's whole result as one tree, and diffs of it: in the library
//! ([`git_agent::ops::result`]), since `review --ai` builds its reviewer's checkout from it too.

pub use git_agent::ops::result::*;
