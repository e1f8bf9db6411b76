//! The OpenAI-compatible wire types, shared by the endpoint client and the simulator.
