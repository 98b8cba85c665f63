-- Key store GET /v1/key-store/{key} of a key the preload wrote (keystore_preload.lua).
local common = dofile(os.getenv("BENCH_SCRIPTS") .. "/common.lua")

wrk.method = "GET"
wrk.headers["Authorization"] = common.bearer()

function request()
  return wrk.format(nil, "/v1/key-store/r-" .. common.read_index())
end

done = common.done
