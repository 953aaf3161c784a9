-- Releases a partition lease if the caller holds it, so a successor need not wait for expiry.
-- KEYS[1] lease   ARGV[1] lease token
-- Returns 1 when released, 0 otherwise.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
