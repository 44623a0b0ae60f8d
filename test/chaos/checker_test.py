#!/usr/bin/env python3
"""The chaos checker on hand-made ledgers (no I/O): a clean ledger passes, and each kind of
violation it is meant to count is counted. Run: python3 test/chaos/checker_test.py"""
import copy
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chaos  # noqa: E402


def clean_ledger():
    """A healthy deployment D (2 hosts, 2 batches) and an analysis breach B on host-3, reverted."""
    def rec(dep, batch, host, gen, status, version, attempts=1, at=0.0, err=""):
        return {"deployment_id": dep, "batch_index": batch, "host": host, "generation": gen, "status": status,
                "version": version, "attempts": attempts, "error_message": err, "health_status": "healthy",
                "updated_at": at}

    def cmd(i, dep, batch, gen, op, host, event):
        return {"id": i, "deployment_id": dep, "batch_index": batch, "generation": gen, "operation": op,
                "event_id": event, "status": "done", "result": "succeeded", "reason": "", "claim": 1,
                "targets": [{"host": host, "driver": "agent"}]}

    def op(kind, version, gen, plan="download_install"):
        return {"kind": kind, "version": version, "generation": gen, "plan": plan}

    return {
        "seed": 1, "run_id": "t",
        "deployments": [{"id": "D", "kind": "healthy", "app": "a"}, {"id": "B", "kind": "analysis_breach", "app": "b"}],
        "commands": [cmd(1, "D", 0, 1, "deploy", "host-1", "e1"), cmd(2, "D", 1, 1, "deploy", "host-2", "e2"),
                     cmd(3, "B", 0, 1, "deploy", "host-3", "e3"), cmd(4, "B", 0, 2, "revert", "host-3", "e4")],
        "records": [rec("D", 0, "host-1", 1, "succeeded", "2.0.0", at=1), rec("D", 1, "host-2", 1, "succeeded", "2.0.0", at=2),
                    rec("B", 0, "host-3", 1, "succeeded", "2.1.0", at=3), rec("B", 0, "host-3", 2, "reverted", "1.0.0", at=4)],
        "events": [{"topic": "sluice.deployments.v1", "type": "sluice.v1.BatchRequested", "event_id": e,
                    "deployment_id": d, "key": d, "headers": {}} for e, d in (("e1", "D"), ("e2", "D"), ("e3", "B"))]
                  + [{"topic": "sluice.rollbacks.v1", "type": "sluice.v1.RevertRequested", "event_id": "e4",
                      "deployment_id": "B", "key": "B", "headers": {}}]
                  + [{"topic": "sluice.deployments.v1", "type": t, "event_id": e, "deployment_id": d, "key": d,
                      "partition": 0, "offset": o, "headers": {}}
                     for t, e, d, o in (("sluice.v1.DeploymentSucceeded", "e5", "D", 10),
                                        ("sluice.v1.DeploymentFailed", "e6", "B", 11))],
        "planner": {"D": {"status": "succeeded"}, "B": {"status": "failed", "failure_reason": "analysis_failed"}},
        "rollbacks": {"D": [], "B": [{"status": "succeeded"}]},
        "hosts": {"host-1": {"current": "2.0.0", "ops": [op("deploy", "2.0.0", 1)], "restarts": ["2.0.0"]},
                  "host-2": {"current": "2.0.0", "ops": [op("deploy", "2.0.0", 1)], "restarts": ["2.0.0"]},
                  "host-3": {"current": "1.0.0", "restarts": ["2.1.0", "1.0.0"],
                             "ops": [op("deploy", "2.1.0", 1), op("revert", "1.0.0", 2, "switch_only")]}},
        "faults": {}, "fault_log": [], "ready_after_restart_s": [],
        # a broker restart and a PostgreSQL restart that recovered; Prometheus down 100-110 and
        # silent 200-240 (no target scraped from 203 on); the canary of B measured before,
        # during and after
        "stack_restarts": [{"kind": "kafka_restart", "component": "kafka", "from": 50.0, "stopped": 52.0,
                            "to": 70.0, "ready_s": 15.0, "lag_zero_s": 4.0},
                           {"kind": "pg_restart", "component": "postgres", "from": 80.0, "stopped": 81.0,
                            "to": 85.0, "ready_s": 2.0}],
        "prometheus_outages": [{"kind": "prom_down", "from": 100.0, "to": 110.0},
                               {"kind": "prom_silent", "from": 200.0, "silent_at": 203.0, "to": 240.0}],
        "measurements": [meas(99.0, "Successful"), meas(104.0, "Error"), meas(111.0, "Successful"),
                         meas(214.0, "Successful"), meas(216.0, "Inconclusive"), meas(241.0, "Successful")],
    }


def meas(at, verdict):
    return {"deployment_id": "B", "bake_watch": False, "analysis_id": "A1", "rule": "error-rate",
            "verdict": verdict, "taken_at": at}


class CheckerTest(unittest.TestCase):
    def violations(self, led):
        counts, _ = chaos.check(led)
        return {k: n for k, n in counts.items() if n}

    def test_clean_ledger_passes(self):
        self.assertEqual(self.violations(clean_ledger()), {})

    def test_command_published_but_never_stored_is_lost(self):
        led = clean_ledger()
        led["commands"] = [c for c in led["commands"] if c["event_id"] != "e2"]
        self.assertEqual(self.violations(led)["lost_commands"], 1)

    def test_record_without_an_operation_at_the_host_is_a_lost_effect(self):
        led = clean_ledger()
        led["hosts"]["host-2"]["ops"] = []
        self.assertEqual(self.violations(led)["lost_effects"], 1)

    def test_succeeded_command_without_its_record_is_a_lost_effect(self):
        led = clean_ledger()
        led["records"] = [r for r in led["records"] if r["generation"] != 2]
        v = self.violations(led)
        self.assertEqual(v["lost_effects"], 1)
        self.assertEqual(v["unexpected_effects"], 1)  # the revert happened at the host anyway

    def test_second_restart_of_one_attempt_is_duplicated(self):
        led = clean_ledger()
        led["hosts"]["host-1"]["ops"].append({"kind": "deploy", "version": "2.0.0", "generation": 1,
                                              "plan": "switch_only"})
        self.assertEqual(self.violations(led)["duplicated_effects"], 1)

    def test_noop_deploy_and_retried_attempts_are_not_duplicates(self):
        led = clean_ledger()
        led["hosts"]["host-1"]["ops"].append({"kind": "deploy", "version": "2.0.0", "generation": 1, "plan": "noop"})
        led["hosts"]["host-2"]["ops"].append({"kind": "deploy", "version": "2.0.0", "generation": 1,
                                              "plan": "switch_only"})
        led["records"][1]["attempts"] = 2
        self.assertEqual(self.violations(led), {})

    def test_operation_with_no_record_is_unexpected(self):
        led = clean_ledger()
        led["hosts"]["host-1"]["ops"].append({"kind": "deploy", "version": "9.9.9", "generation": 1,
                                              "plan": "download_install"})
        self.assertEqual(self.violations(led)["unexpected_effects"], 1)

    def test_lower_generation_after_a_higher_one_is_a_stale_write(self):
        led = clean_ledger()
        ops = led["hosts"]["host-3"]["ops"]
        ops.append(copy.deepcopy(ops[0]))  # the forward batch again, after the revert
        led["records"][2]["attempts"] = 2
        v = self.violations(led)
        self.assertEqual(v["stale_writes_accepted"], 1)

    def test_two_rollbacks_to_the_same_stable_version_are_not_stale(self):
        # B2 (2.2.0) after B on host-3, both reverted to 1.0.0 at generation 2: B2's deploy at
        # generation 1 comes after a "1.0.0 gen 2" revert, which was B's, not B2's.
        led = clean_ledger()
        led["deployments"].append({"id": "B2", "kind": "analysis_breach", "app": "b"})
        led["planner"]["B2"] = {"status": "failed"}
        led["rollbacks"]["B2"] = [{"status": "succeeded"}]
        led["records"] += [
            dict(led["records"][2], deployment_id="B2", version="2.2.0", updated_at=5),
            dict(led["records"][3], deployment_id="B2", updated_at=6)]
        led["hosts"]["host-3"]["ops"] += [
            {"kind": "deploy", "version": "2.2.0", "generation": 1, "plan": "download_install"},
            {"kind": "revert", "version": "1.0.0", "generation": 2, "plan": "switch_only"}]
        self.assertEqual(self.violations(led), {})

    def test_outcomes(self):
        led = clean_ledger()
        led["planner"]["D"]["status"] = "running"
        self.assertEqual(self.violations(led)["not_terminal"], 1)
        led = clean_ledger()
        led["rollbacks"]["D"] = [{"status": "succeeded"}]
        self.assertEqual(self.violations(led)["false_rollbacks"], 1)
        led = clean_ledger()
        led["rollbacks"]["B"] = []
        self.assertEqual(self.violations(led)["breaches_without_rollback"], 1)
        led = clean_ledger()
        led["rollbacks"]["B"] = [{"status": "succeeded"}, {"status": "succeeded"}]
        self.assertEqual(self.violations(led)["extra_rollbacks"], 1)
        led = clean_ledger()
        led["planner"]["B"]["status"] = "succeeded"
        self.assertEqual(self.violations(led)["wrong_outcome"], 1)

    def test_host_not_on_its_newest_record(self):
        led = clean_ledger()
        led["hosts"]["host-3"]["current"] = "2.1.0"
        self.assertEqual(self.violations(led)["host_current_mismatch"], 1)

    def test_failed_health_check_leaves_the_new_version_current(self):
        led = clean_ledger()
        led["records"][1].update(status="failed", error_message="health_check_failed: not healthy")
        led["commands"][1]["result"] = "failed"
        self.assertEqual(self.violations(led), {})

    def test_dead_letter_of_the_run(self):
        led = clean_ledger()
        led["events"].append({"topic": "sluice.deadletter.v1", "type": "sluice.v1.BatchSucceeded", "key": "D",
                              "deployment_id": "D", "headers": {"dlq_reason": "x"}})
        self.assertEqual(self.violations(led)["dead_letters"], 1)

    def test_committed_transition_lost(self):
        # the planner published DeploymentSucceeded (committed), then shows D still failed
        led = clean_ledger()
        led["planner"]["D"]["status"] = "failed"
        v = self.violations(led)
        self.assertEqual(v["transitions_lost"], 1)
        # succeeded, then rolled back from its bake watch: the last transition counts
        led = clean_ledger()
        led["planner"]["D"]["status"] = "rolled_back"
        led["deployments"][0]["prom_faults"] = 1  # outcome not judged: only the transition rule
        led["rollbacks"]["D"] = [{"status": "succeeded"}]
        led["events"].append(dict(led["events"][-1], deployment_id="D", key="D", event_id="e7", offset=12))
        self.assertEqual(self.violations(led), {})
        led["events"][-1]["offset"] = 9  # the Failed before the Succeeded: D should be succeeded
        self.assertEqual(self.violations(led)["transitions_lost"], 1)

    def test_stack_component_not_up_again(self):
        led = clean_ledger()
        del led["stack_restarts"][1]["to"]
        led["stack_restarts"][1]["error"] = "bash scripts/stack.sh up postgres failed (1)"
        self.assertEqual(self.violations(led)["component_not_recovered"], 1)

    def test_consumer_lag_not_back_to_zero_in_time(self):
        led = clean_ledger()
        led["stack_restarts"][0]["lag_zero_s"] = chaos.LAG_RECOVERY_S + 0.5
        self.assertEqual(self.violations(led)["lag_not_recovered"], 1)
        led["stack_restarts"][0]["lag_zero_s"] = None  # never seen at 0 within the wait
        self.assertEqual(self.violations(led)["lag_not_recovered"], 1)
        led["stack_restarts"][0]["lag_zero_s"] = chaos.LAG_RECOVERY_S
        self.assertEqual(self.violations(led), {})

    def test_successful_measurement_while_prometheus_down(self):
        led = clean_ledger()
        led["measurements"][1]["verdict"] = "Successful"  # 104: Prometheus was stopped
        self.assertEqual(self.violations(led)["measured_without_data"], 1)

    def test_successful_measurement_while_prometheus_silent(self):
        # 214 is within the last rate window's samples after 203 (SILENT_GRACE_S); 216 is not
        led = clean_ledger()
        led["measurements"][4]["verdict"] = "Successful"
        self.assertEqual(self.violations(led)["measured_without_data"], 1)
        # a ledger without silent_at counts from the file's change + SD_DELAY_S: 200 + 6 + 12
        led = clean_ledger()
        del led["prometheus_outages"][1]["silent_at"]
        self.assertEqual(self.violations(led), {})
        led["measurements"][4].update(verdict="Successful", taken_at=218.5)
        self.assertEqual(self.violations(led)["measured_without_data"], 1)

    def test_prometheus_fault_disturbs_the_outcome_not_the_rollback_count(self):
        # a healthy canary judged inconclusive while Prometheus was out is failed and rolled
        # back: not a false rollback (never promoted); rolled back twice still is a violation
        led = clean_ledger()
        led["deployments"][0]["prom_faults"] = 1
        led["planner"]["D"]["status"] = "rolled_back"
        led["events"] = [e for e in led["events"] if e["event_id"] != "e5"]
        led["rollbacks"]["D"] = [{"status": "succeeded"}]
        self.assertEqual(self.violations(led), {})
        led["rollbacks"]["D"].append({"status": "succeeded"})
        self.assertEqual(self.violations(led)["extra_rollbacks"], 1)

    def test_consumer_stopped_for_good(self):
        led = clean_ledger()
        led["consumers_stopped"] = ["executor-1 2026-12-07T13:06:32Z: consumer group g fatal error, stopping: "
                                    "OffsetCommit failed: Broker: Static consumer fenced"]
        self.assertEqual(self.violations(led)["consumers_stopped"], 1)


if __name__ == "__main__":
    unittest.main()
