#pragma once

// Delivery specs the libs/spec tests share.

#include <string>

namespace sluice::spec::testing {

// Every part of the grammar at least once: three environments (a mixed canary with VM hosts and
// two Kubernetes workloads, a rolling one with a service block, a blue-green one), analysis
// templates with nested conditions, threshold options and a judge.
inline const std::string kEverySpec = R"spec(app: shop
environments:
  production:
    targets:
      web:
        hosts:
          - {name: a1, address: 10.0.0.1, agentEndpoint: 'http://10.0.0.1:7070', labels: {zone: a}}
          - {name: b1, address: 10.0.0.2, agentEndpoint: 'http://10.0.0.2:7070', labels: {zone: b}}
    kubernetes:
      - name: web-k8s
        cluster: in-cluster
        namespace: shop
        kind: Deployment
        workload: web
        container: app
        rollout: replica-canary
        surge: true
        traffic: {httpRoute: web, stableService: web-stable, canaryService: web-canary}
      - name: db-k8s
        cluster: kind-local
        namespace: shop
        kind: StatefulSet
        workload: db
        container: postgres
    strategy:
      type: canary
      steps:
        - weight: 25%
        - pause: 2m
        - {weight: 50%, analysis: default}
        - pause: {}
        - approval: required
        - weight: 100%
      maxParallel: 2
      maxUnavailable: 10%
      hostTimeout: 90s
      failureTolerance: 1
      spreadBy: zone
    policy: {autoDeploy: true, approval: required, allowSelfApproval: true, concurrency: reject}
    rollback: {onCanaryFailure: revert-all}
    analysis:
      bakeWatch: {template: default, duration: 5m}
      templates:
        default:
          interval: 5s
          count: 3
          inconclusiveLimit: 1
          metrics:
            error_rate: {query: 'sum(rate(e{version="{{version}}"}[30s]))'}
            p95_latency: {query: 'histogram_quantile(0.95, sum by (le) (rate(b[30s])))'}
            requests: {query: 'sum(increase(r[30s]))'}
            cpu_seconds: {query: 'sum(rate(cpu[1m]))'}
          rules:
            - name: seed
              failWhen: "error_rate > 5% OR (p95_latency > 500ms AND requests > 10)"
              severity: critical
              minRequests: {metric: requests, min: 20}
              noData: fail
              interval: 10s
            - {name: cpu, metric: cpu_seconds, max: 0.9, severity: warning, count: 6, dryRun: true}
          judge:
            confidence: 0.95
            pass: 90
            marginal: 70
            lookback: 2m
            step: 5s
            metrics:
              - name: latency
                query: 'lat{instance_name=~"{{instances}}",version="{{version}}"}'
                direction: increase
                tolerance: 20%
                weight: 2
                critical: true
                removeOutliers: true
              - name: throughput
                query: 'tp{instance_name=~"{{instances}}"}'
                baselineQuery: 'tp{instance_name=~"{{baseline_instances}}"}'
                direction: decrease
                tolerance: 0.1
        quick:
          metrics: {error_rate: {query: x}}
          rules: [{name: errors, failWhen: "error_rate > 1%", severity: info, noData: pass}]
  staging:
    targets:
      web:
        hosts:
          - {name: s1, address: 10.1.0.1, agentEndpoint: 'http://10.1.0.1:7070'}
    strategy: {type: rolling, batchSize: 50%}
    service:
      restartCommand: [bin/restart.sh, --graceful]
      restartTimeout: 30s
      health: {command: [bin/check, -q], timeout: 20s}
  blue:
    targets:
      blue:
        hosts: [{name: u1, address: 10.2.0.1, agentEndpoint: 'http://10.2.0.1:7070'}]
      green:
        hosts: [{name: g1, address: 10.2.1.1, agentEndpoint: 'http://10.2.1.1:7070'}]
    kubernetes:
      - {name: api, cluster: in-cluster, namespace: shop, kind: Deployment, workload: api,
         container: api, rollout: blue-green, service: api}
      - {name: jobs, cluster: in-cluster, namespace: shop, kind: StatefulSet, workload: jobs,
         container: worker, rollout: rolling}
    strategy:
      type: blue-green
      groups: [blue, green]
      trafficSwitch: {url: 'https://lb.example.com/switch'}
    service: {restartCommand: [r], health: {httpUrl: 'http://127.0.0.1:8000/healthz'}}
)spec";

}  // namespace sluice::spec::testing
