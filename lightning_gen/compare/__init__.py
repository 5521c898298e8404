"""Reading finished runs and lining them up: leaderboards, reports, benchmark suites."""
