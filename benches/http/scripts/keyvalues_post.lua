-- Key-values POST /{apiKey}/key-values: create a resource (item + key index, one batch)
-- with a random key and a 100-byte value. BENCH_TOKEN comes from POST /{apiKey}/login.
local common = dofile(os.getenv("BENCH_SCRIPTS") .. "/common.lua")

wrk.method = "POST"
wrk.path = "/" .. common.env("BENCH_API_KEY") .. "/key-values"
wrk.headers["Authorization"] = common.bearer()
wrk.headers["Content-Type"] = "application/json"

function request()
  local body = '{"key":"' .. common.random_key("b") .. '","value":"' .. common.value() .. '"}'
  return wrk.format(nil, nil, nil, body)
end

done = common.done
