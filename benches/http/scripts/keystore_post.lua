-- Key store POST /v1/key-store/: create (engine Insert) of a random key whose data is an
-- object holding a 100-byte string.
local common = dofile(os.getenv("BENCH_SCRIPTS") .. "/common.lua")

wrk.method = "POST"
wrk.path = "/v1/key-store/"
wrk.headers["Authorization"] = common.bearer()
wrk.headers["Content-Type"] = "application/json"

function request()
  local body = '{"key":"' .. common.random_key("b") .. '","data":{"v":"' .. common.value() .. '"}}'
  return wrk.format(nil, nil, nil, body)
end

done = common.done
