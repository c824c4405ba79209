//! Client-facing wire formats: rendering canonical responses, chunks and errors for the ingress
//! the client used (OpenAI `/v1/*` or Anthropic `/anthropic/v1/messages`).

pub mod anthropic;
pub mod openai;
