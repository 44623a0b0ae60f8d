#pragma once

// SQL text for the repositories that filter on times sent as microseconds since the epoch (the
// lists' since / until, core::TimeRange; a keyset cursor's position).

// The bigint parameter $n as a timestamptz: whole seconds plus microseconds, each exact in the
// double an interval is multiplied by (one multiplication by a microsecond loses precision far
// from the epoch).
#define SLUICE_PG_US_TIMESTAMPTZ(n)              \
  "(timestamptz 'epoch' + ($" #n                 \
  "::bigint / 1000000) * interval '1 second' + " \
  "($" #n "::bigint % 1000000) * interval '1 microsecond')"

// `column` in [$since, $until), either bound NULL for none (core::TimeRange::Contains in SQL).
#define SLUICE_PG_IN_US_RANGE(column, since, until)                                      \
  "($" #since "::bigint IS NULL OR " column                                              \
  " >= " SLUICE_PG_US_TIMESTAMPTZ(since) ") AND ($" #until "::bigint IS NULL OR " column \
                                         " < " SLUICE_PG_US_TIMESTAMPTZ(until) ")"
