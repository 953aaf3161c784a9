-- Stores a model version and makes it the newest unless a newer one was saved meanwhile.
-- KEYS[1] <ns>:{model:<name>}:latest   KEYS[2] <ns>:{model:<name>}:v<version>
-- ARGV[1] version   ARGV[2] model bytes
-- Returns the newest version after the call.
redis.call('SET', KEYS[2], ARGV[2])
local latest = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > latest then
  redis.call('SET', KEYS[1], ARGV[1])
  return tonumber(ARGV[1])
end
return latest
