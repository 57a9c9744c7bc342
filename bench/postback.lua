-- wrk script of bench/postback.sh: every request a new conversion (its own
-- transaction_id) on a click of BENCH_IDS (a file of click ids), the key in
-- X-API-Key, and its own X-Forwarded-For (the shipped nginx site
-- rate-limits per address; the local stack trusts the header from loopback).
local threads = {}

function setup(thread)
	thread:set("tid", #threads)
	table.insert(threads, thread)
end

local ids, counter = {}, 0
local run, key, path

function init(args)
	for line in io.lines(os.getenv("BENCH_IDS")) do
		ids[#ids + 1] = line
	end
	run = os.getenv("BENCH_RUN") or "r"
	key = os.getenv("BENCH_KEY") or ""
	path = os.getenv("BENCH_PATH") or "/postback"
end

function request()
	counter = counter + 1
	local id = ids[((counter * 2 + tid) % #ids) + 1]
	local xff = string.format("10.%d.%d.%d", tid, math.floor(counter / 256) % 256, counter % 256)
	return wrk.format("GET", path .. "?click_id=" .. id .. "&transaction_id=" .. run .. "-" .. tid .. "-" ..
		counter .. "&amount=10.00", { ["X-API-Key"] = key, ["X-Forwarded-For"] = xff })
end
