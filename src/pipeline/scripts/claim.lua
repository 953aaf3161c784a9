-- Claims the pending entries of a partition for the caller, only while it holds the lease: a worker
-- whose lease expired must not pull entries away from its successor.
-- KEYS[1] lease of (stage, partition)   KEYS[2] input stream
-- ARGV[1] lease token   ARGV[2] consumer group   ARGV[3] consumer   ARGV[4] max entries
-- Returns the XAUTOCLAIM reply (next id, entries, deleted ids), or the error LEASE_LOST.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('LEASE_LOST the partition lease is held by another worker or expired')
end
return redis.call('XAUTOCLAIM', KEYS[2], ARGV[2], ARGV[3], 0, '0-0', 'COUNT', ARGV[4])
