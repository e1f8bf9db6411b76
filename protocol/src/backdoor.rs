//! Backdoor selection, insertion, the secret set, and the stealth self-audit.
