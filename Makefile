# The two commands of the quick start, and the benchmark harness.
.PHONY: run test bench images

run:    ## build and start Sicuro at http://127.0.0.1:3000 (SQLite in ./data, local Docker)
	sh scripts/run.sh

test:   ## every test: unit, integration (Docker, SQLite, PostgreSQL), browser, fuzz
	sh scripts/test.sh

bench:  ## the benchmark table (see README, Performance)
	sh scripts/bench.sh

images: ## build the job and service images ahead of their first use
	cargo run -q -p server --bin sicuro -- images
