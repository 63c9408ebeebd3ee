-- POST /api/v1/opportunities with a fixed draft body (customer id after `--`).
local body
function init(args)
  body = '{"topic":"Benchmark lead","customer_id":"' .. args[1] .. '",' ..
         '"estimated_revenue":{"amount":"12500.00","currency":"EUR"},"product_lines":["cloud"]}'
end
function request()
  return wrk.format("POST", "/api/v1/opportunities", {["Content-Type"] = "application/json"}, body)
end
