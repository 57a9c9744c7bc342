-- wrk script of bench/traffic-click.sh: every request from another
-- address (X-Forwarded-For, trusted from loopback by the local stack), so
-- the geo lookup, geo rules, activity counters and route see varied
-- visitors instead of one, with browser headers.
local threads = 0
function setup(thread)
	threads = threads + 1
	thread:set("id", threads)
end

function init(args)
	-- each thread its own sequence, or the threads would repeat each other
	math.randomseed(os.time() * 100 + id)
end

request = function()
	local ip = string.format("%d.%d.%d.%d", math.random(1, 223), math.random(0, 255),
		math.random(0, 255), math.random(1, 254))
	wrk.headers["X-Forwarded-For"] = ip
	return wrk.format(nil)
end
