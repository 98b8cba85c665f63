-- etcd v2 keys API: PUT /v2/keys/<random key>?prevExist=false (create only), value 100 bytes.
local common = dofile(os.getenv("BENCH_SCRIPTS") .. "/common.lua")

wrk.method = "PUT"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"

function request()
  return wrk.format(nil, "/v2/keys/" .. common.random_key("b") .. "?prevExist=false", nil,
    "value=" .. common.value())
end

done = common.done
