-- Moves dead-lettered batches back to the stream they came from, removing them from the DLQ.
-- KEYS[1] dlq stream of the partition
-- ARGV[1..] dlq entry ids
-- Returns the number of entries replayed (entries without a batch, e.g. undecodable ones, stay).
local replayed = 0
for _, id in ipairs(ARGV) do
  local entries = redis.call('XRANGE', KEYS[1], id, id)
  if #entries == 1 then
    local f = entries[1][2]
    local stream, v, b
    for j = 1, #f, 2 do
      if f[j] == 'stream' then stream = f[j + 1] elseif f[j] == 'v' then v = f[j + 1] elseif f[j] == 'b' then b = f[j + 1] end
    end
    if stream and b then
      redis.call('XADD', stream, '*', 'v', v, 'b', b)
      redis.call('XDEL', KEYS[1], id)
      replayed = replayed + 1
    end
  end
end
return replayed
