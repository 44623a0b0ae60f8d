#pragma once

// `sluice-agent enroll`: spends a one-time enrolment token at release-intake
// (POST /v1/agents/enroll) and writes what the agent needs into its config dir, each file 0600
// (owned by the sluice-agent user when run as root and that user exists):
//   credential       the host's credential (slh_...), sent to release-intake as a bearer token
//   enrolled.conf    SLUICE_AGENT_SERVER, _NAME, _CREDENTIAL_FILE (and _SERVER_CA_FILE): a
//                    systemd environment file the unit reads after agent.conf
//   enrollment.json  what was enrolled: server, name, address, labels, enrolled_at_ms
//   executor-token   with --executor-token-file: the executor's shared token, copied
// A config dir that already holds an enrolment is refused unless --force; nothing is written
// unless release-intake enrolled the host.

#include <iosfwd>

#include "enroll_args.hpp"

namespace sluice::agent {

// 0 enrolled; 1 refused or failed (the message says why); 3 already enrolled (no --force).
int RunEnroll(const EnrollOptions& options, std::ostream& out, std::ostream& err);

}  // namespace sluice::agent
