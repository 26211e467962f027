"""The hash chain: profiles, canonical text, the kernel, scan, verify and its result."""
