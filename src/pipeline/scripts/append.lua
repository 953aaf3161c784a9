-- Idempotent append of one producer batch to a partition's ingest stream.
-- KEYS[1] ingest stream of the partition
-- KEYS[2] producer high-water marks of the partition (hash: producer id -> last appended seq)
-- ARGV[1] producer id   ARGV[2] last seq of the batch   ARGV[3] codec version   ARGV[4] batch bytes
-- ARGV[5] (only when the batch is traced) its W3C traceparent, stored as field tc
-- The entry gets field t, the server's clock in microseconds (for latency measurement).
-- Returns the new entry id, or nil when this batch (or a later one) was appended before, so a retry
-- after a lost reply never duplicates.
local mark = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '-1')
if tonumber(ARGV[2]) <= mark then return false end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
local now = redis.call('TIME')
local t = now[1] .. string.format('%06d', tonumber(now[2]))
if ARGV[5] then
  return redis.call('XADD', KEYS[1], '*', 'v', ARGV[3], 'b', ARGV[4], 't', t, 'tc', ARGV[5])
end
return redis.call('XADD', KEYS[1], '*', 'v', ARGV[3], 'b', ARGV[4], 't', t)
