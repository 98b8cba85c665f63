-- Voximplant SetKeyValueItem: a form body (what the official Python SDK sends), a random key,
-- a 100-byte value, the default TTL. One durable Upsert per request.
local common = dofile(os.getenv("BENCH_SCRIPTS") .. "/common.lua")

wrk.method = "POST"
wrk.path = "/platform_api/SetKeyValueItem"
wrk.headers["Authorization"] = common.bearer()
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"

function request()
  local body = "application_id=1&key=" .. common.random_key("b") .. "&value=" .. common.value()
  return wrk.format(nil, nil, nil, body)
end

done = common.done
