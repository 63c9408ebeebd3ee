-- POST /api/v1/opportunities with a fixed draft body (customer id after `--`).
local body
function init(args)
  body = '{"topic":"Benchmark lead","customer_id":"' .. args[1] .. '",' ..
         '"estimated_revenue":{"amount":"12500.00","currency":"EUR"},"product_lines":["cloud"]}'
end
local headers
function request()
  if not headers then
    -- A headers table replaces the -H ones, so carry them over.
    headers = {["Content-Type"] = "application/json"}
    for k, v in pairs(wrk.headers) do headers[k] = v end
  end
  return wrk.format("POST", "/api/v1/opportunities", headers, body)
end
