-- Voximplant GetKeyValueItem of a key the preload wrote (vox_preload.lua), as a form POST
-- like the official SDK's.
local common = dofile(os.getenv("BENCH_SCRIPTS") .. "/common.lua")

wrk.method = "POST"
wrk.path = "/platform_api/GetKeyValueItem"
wrk.headers["Authorization"] = common.bearer()
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"

function request()
  return wrk.format(nil, nil, nil, "application_id=1&key=r" .. common.read_index())
end

done = common.done
