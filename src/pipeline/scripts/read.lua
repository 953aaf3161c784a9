-- Reads new entries for a stage, only while the caller holds the partition's lease. Fencing the read
-- (not only the commit) keeps a worker whose lease expired from taking entries its successor will
-- never see: entries delivered to a consumer stay in its pending list.
-- KEYS[1] lease of (stage, partition)   KEYS[2] input stream
-- ARGV[1] lease token   ARGV[2] consumer group   ARGV[3] consumer   ARGV[4] max entries
-- Returns the XREADGROUP reply (nil when there is nothing new), or the error LEASE_LOST.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('LEASE_LOST the partition lease is held by another worker or expired')
end
return redis.call('XREADGROUP', 'GROUP', ARGV[2], ARGV[3], 'COUNT', ARGV[4], 'STREAMS', KEYS[2], '>')
