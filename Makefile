# `make` runs what CI runs: formatting, lints, the whole test suite.
.PHONY: check fmt clippy test serve bench-redis

check: fmt clippy test

fmt:
	cargo fmt --all -- --check

clippy:
	cargo clippy --workspace --all-targets -- -D warnings

test:
	scripts/test.sh

serve:
	cargo run --release -- serve
