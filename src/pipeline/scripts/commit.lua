-- Commits one processed batch of a stage for one partition: outputs, input acks, state and dead
-- letters in one atomic step, and only while the caller still holds the partition's lease (fencing:
-- a worker that stalled past its lease cannot commit behind its successor's back).
-- KEYS[1] lease of (stage, partition)   KEYS[2] input stream   KEYS[3] state key   KEYS[4] dlq stream
-- KEYS[5..] output streams (KEYS[5] is the stage's main output)
-- ARGV[1] lease token   ARGV[2] consumer group   ARGV[3] codec version
-- then: 'ack', n, and n input entry ids delivered by an earlier read (pending) to acknowledge;
--   or 'take', consumer, n, and n ids of the group's next new entries, read with a plain XREAD: they
--   are delivered to the consumer here and acknowledged. If the group's next n entries are not
--   exactly these, nothing else happens and the error STALE_READ is returned (what was delivered
--   stays pending, for recovery).
-- then: m, the batch's W3C traceparent or '' (when traced, every output entry gets it as field tc),
--   and m pairs (index into KEYS of the output stream, batch bytes)
-- then: state op ('-' keep, 'set', 'del') and the state value; or op 'hash' (entry state, KEYS[3] a
--   hash) followed by s, s pairs (field, value) to set, d, and d fields to delete
-- then: d, and d dead-letter records of 6 values: origin id, stage, error, deliveries, batch or '', raw or ''
-- Every output entry also gets field t: the server's clock in microseconds at the commit, from which
-- `bench` measures latency with sub-millisecond resolution.
-- Returns the number of entries acknowledged, or the error LEASE_LOST or STALE_READ.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('LEASE_LOST the partition lease is held by another worker or expired')
end
local i = 4
local mode = ARGV[i]; i = i + 1
local consumer
if mode == 'take' then consumer = ARGV[i]; i = i + 1 end
local n = tonumber(ARGV[i]); i = i + 1
local ids = {}
for j = 1, n do ids[j] = ARGV[i]; i = i + 1 end
if mode == 'take' and n > 0 then
  -- Reading with XREAD costs no delivery; delivering here, under the lease, is what fences the read.
  local got = redis.call('XREADGROUP', 'GROUP', ARGV[2], consumer, 'COUNT', n, 'STREAMS', KEYS[2], '>')
  local entries = got and got[1] and got[1][2] or {}
  local same = #entries == n
  for j = 1, #entries do
    if not same or entries[j][1] ~= ids[j] then same = false; break end
  end
  if not same then
    return redis.error_reply('STALE_READ the entries read are not the group\'s next ones')
  end
end
local m = tonumber(ARGV[i]); i = i + 1
local tc = ARGV[i]; i = i + 1
local now = redis.call('TIME')
local t = now[1] .. string.format('%06d', tonumber(now[2]))
for j = 1, m do
  if tc == '' then
    redis.call('XADD', KEYS[tonumber(ARGV[i])], '*', 'v', ARGV[3], 'b', ARGV[i + 1], 't', t)
  else
    redis.call('XADD', KEYS[tonumber(ARGV[i])], '*', 'v', ARGV[3], 'b', ARGV[i + 1], 't', t, 'tc', tc)
  end
  i = i + 2
end
local op = ARGV[i]
if op == 'hash' then
  -- In slices: unpack() of thousands of values would overflow Lua's C stack.
  local s = tonumber(ARGV[i + 1]); i = i + 2
  local j = 0
  while j < s do
    local k = math.min(s - j, 500)
    redis.call('HSET', KEYS[3], unpack(ARGV, i, i + 2 * k - 1))
    i = i + 2 * k; j = j + k
  end
  local d = tonumber(ARGV[i]); i = i + 1
  j = 0
  while j < d do
    local k = math.min(d - j, 1000)
    redis.call('HDEL', KEYS[3], unpack(ARGV, i, i + k - 1))
    i = i + k; j = j + k
  end
else
  local value = ARGV[i + 1]; i = i + 2
  if op == 'set' then redis.call('SET', KEYS[3], value) elseif op == 'del' then redis.call('DEL', KEYS[3]) end
end
local d = tonumber(ARGV[i]); i = i + 1
for j = 1, d do
  local fields = {'origin', ARGV[i], 'stage', ARGV[i + 1], 'error', ARGV[i + 2], 'deliveries', ARGV[i + 3], 'stream', KEYS[2]}
  if ARGV[i + 4] ~= '' then table.insert(fields, 'v'); table.insert(fields, ARGV[3]); table.insert(fields, 'b'); table.insert(fields, ARGV[i + 4]) end
  if ARGV[i + 5] ~= '' then table.insert(fields, 'raw'); table.insert(fields, ARGV[i + 5]) end
  redis.call('XADD', KEYS[4], '*', unpack(fields))
  i = i + 6
end
if n == 0 then return 0 end
return redis.call('XACK', KEYS[2], ARGV[2], unpack(ids))
