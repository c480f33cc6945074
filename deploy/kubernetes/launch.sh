#!/usr/bin/env bash
# Launches N shards of the workload in workload-configmap.yaml as an Indexed Job, all starting at one instant.
#
#   BOOTSTRAP=my-kafka-bootstrap.kafka.svc:9092 SHARDS=4 LEAD_S=90 deploy/kubernetes/launch.sh
#
# LEAD_S (default 90) is how far ahead of now the common start is: long enough for every pod to be scheduled,
# pull the image and fetch metadata. A pod that is not ready by then starts late and says so in its result.
# Prints the RUN_ID (the results sub-folder) and the commands to watch and collect.
set -euo pipefail
cd "$(dirname "$0")"
: "${BOOTSTRAP:?set BOOTSTRAP to the bootstrap servers of the Kafka cluster (host:port,...)}"
SHARDS=${SHARDS:-4}
LEAD_S=${LEAD_S:-90}
RUN_ID=${RUN_ID:-$(date -u +%Y%m%d-%H%M%S)}
# The one start instant of this run, computed here once for every pod.
START_AT=$(date -u -d "+${LEAD_S} seconds" +%Y-%m-%dT%H:%M:%SZ)

kubectl apply -f results-pvc.yaml -f workload-configmap.yaml
sed -e "s|^\(  START_AT:\).*|\1 \"$START_AT\"|" -e "s|^\(  RUN_ID:\).*|\1 \"$RUN_ID\"|" \
    -e "s|^\(  SHARDS:\).*|\1 \"$SHARDS\"|" -e "s|^\(  BOOTSTRAP:\).*|\1 \"$BOOTSTRAP\"|" run-configmap.yaml \
    | kubectl apply -f -
kubectl delete job kprod-shards --ignore-not-found --wait=true
sed -e "s|^\(  completions:\).*|\1 $SHARDS|" -e "s|^\(  parallelism:\).*|\1 $SHARDS|" job.yaml | kubectl apply -f -

cat <<MSG
run $RUN_ID: $SHARDS shards start at $START_AT
  watch:   kubectl get job kprod-shards -w ; kubectl logs -l job-name=kprod-shards --prefix -f --max-log-requests $SHARDS
  wait:    kubectl wait --for=condition=complete job/kprod-shards --timeout=60m
  collect: deploy/kubernetes/collect.sh $RUN_ID
MSG
