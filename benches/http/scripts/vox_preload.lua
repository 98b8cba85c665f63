-- Writes keys r0 .. r<BENCH_READ_KEYS - 1> (in order, then around again) for vox_get.lua,
-- and stops once that many answers came back.
local common = dofile(os.getenv("BENCH_SCRIPTS") .. "/common.lua")

wrk.method = "POST"
wrk.path = "/platform_api/SetKeyValueItem"
wrk.headers["Authorization"] = common.bearer()
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"

local next_key = 0
function request()
  local body = "application_id=1&key=r" .. next_key .. "&value=" .. common.value()
  next_key = (next_key + 1) % common.read_keys
  return wrk.format(nil, nil, nil, body)
end

response = common.stop_after(common.read_keys)
done = common.done
