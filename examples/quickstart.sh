shardctl etcd start
shardctl cluster init --shards 8 --rf 1 --nodes n1=127.0.0.1:7101
shardctl node add n2 --address 127.0.0.1:7102
shardctl node serve --id n1 --listen 127.0.0.1:7101 --data-dir .shardctl/n1 > n1.log 2>&1 &
shardctl node serve --id n2 --listen 127.0.0.1:7102 --data-dir .shardctl/n2 > n2.log 2>&1 &
shardctl router serve --listen 127.0.0.1:7100 > router.log 2>&1 &
for try in $(seq 60); do shardctl kv put hello world 2> /dev/null && break; sleep 1; done
shardctl kv get hello; echo
shardctl plan --strategy ring --out plan.json && shardctl apply plan.json --yes
kill %1 %2 %3; wait; shardctl etcd stop --purge
