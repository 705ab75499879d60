-- Test reports (the JUnit XML a job wrote): the counts of each build that had any, and its test
-- cases, so a build page shows the failing and the slowest tests and a repository's history
-- tells a flaky test (failed, then passed, on the same commit). migrations/postgres has the same.

CREATE TABLE test_reports (
    build_id BIGINT PRIMARY KEY REFERENCES builds(id) ON DELETE CASCADE,
    passed   BIGINT NOT NULL,
    failed   BIGINT NOT NULL,
    skipped  BIGINT NOT NULL,
    problems TEXT
);

CREATE TABLE test_cases (
    id          INTEGER PRIMARY KEY,
    build_id    BIGINT NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
    suite       TEXT NOT NULL,
    classname   TEXT NOT NULL,
    name        TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    duration_ms BIGINT NOT NULL,
    message     TEXT,
    output      TEXT
);
CREATE INDEX test_cases_by_build ON test_cases (build_id);
CREATE INDEX builds_by_commit ON builds (repo_id, commit_sha);
