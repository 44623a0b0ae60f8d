#pragma once

// Everything of sluice::pg in one include.
#include <sluice/pg/database.hpp>
#include <sluice/pg/inbox.hpp>
#include <sluice/pg/migrations.hpp>
#include <sluice/pg/outbox.hpp>
#include <sluice/pg/timers.hpp>
