-- Unit tests of build.lua, without BuildKit: `luakit test examples/go`.
--
-- In a test file bk.export may be called any number of times, and
-- bk.exported() returns the image the last call made: its entrypoint, cmd,
-- env, user, workdir, exposed ports, labels, … (as `docker inspect` would
-- show them), and the exported state itself.

require("build") -- runs build.lua, which calls bk.export

local image = assert(bk.exported(), "build.lua exports an image")

function test_the_server_is_the_entrypoint()
    assert(
        #image.entrypoint == 1 and image.entrypoint[1] == "/server",
        "entrypoint: " .. table.concat(image.entrypoint, " ")
    )
    assert(#image.cmd == 0, "no cmd expected")
end

function test_it_runs_as_nonroot()
    assert(image.user == "nonroot", "user is " .. image.user)
end

function test_it_exposes_8080()
    assert(#image.expose == 1 and image.expose[1] == "8080/tcp", "expose: " .. table.concat(image.expose, ", "))
end

function test_it_is_labelled()
    assert(image.labels["org.opencontainers.image.title"] == "server")
end

function test_the_path_is_set()
    -- No base image config is known in tests, so the default PATH applies.
    assert(image.env.PATH == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", tostring(image.env.PATH))
end

function test_it_was_exported_by_build_lua()
    assert(image.file == "build.lua", image.file)
end

function test_the_state_is_the_runtime_image()
    -- The exported state is an ordinary value: its env, workdir and user
    -- can be read like those of any state.
    assert(image.state:get_user() == "", "the user is set by bk.export, not on the state")
    assert(image.state:get_env("PATH") == image.env.PATH)
end
