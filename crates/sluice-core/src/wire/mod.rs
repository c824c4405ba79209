//! The canonical wire schema: OpenAI's request and response shapes.

mod chat;
mod other;

pub use chat::*;
pub use other::*;
