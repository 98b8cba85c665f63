-- Application keys: POST /v2/application-keys (reserved_rate_limit 0) and DELETE of the keys
-- created, alternately. A store holds at most 10,000 keys, so creates alone would hit that
-- cap within seconds; deleting what was created keeps the store small. Every create and
-- delete changes the store's budget record (one guarded read-modify-write, see
-- docs/api/app_keys.md), so this measures the budget rule's serialization too.
-- The 100-byte value is the key's name. Against a server that answers no `id` (the bare
-- baseline) it sends creates only.
local common = dofile(os.getenv("BENCH_SCRIPTS") .. "/common.lua")

wrk.headers["Authorization"] = common.bearer()
wrk.headers["Content-Type"] = "application/json"

local created = {}   -- ids created and not yet deleted (a stack)

function request()
  local n = #created
  if n > 0 then
    local id = created[n]
    created[n] = nil
    return wrk.format("DELETE", "/v2/application-keys/" .. id, nil, "")
  end
  local body = '{"data":{"type":"application_key","name":"' .. common.value() .. '","reserved_rate_limit":0}}'
  return wrk.format("POST", "/v2/application-keys", nil, body)
end

function response(status, headers, body)
  if status == 201 then
    local id = body:match('"id":"([%w%-]+)"')
    if id then created[#created + 1] = id end
  end
end

done = common.done
