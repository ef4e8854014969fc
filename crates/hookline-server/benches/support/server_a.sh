# Shared by ab.sh and instances.sh: the load bench's server (a) (benches/support/workload.rs)
# as a config file, and the wrk scripts of the write workloads.

# write_config FILE: users with one superadmin, and 24 seeded `items`; no hooks.
write_config() {
{
    cat <<'TOML'
[auth]
users = "users"
login_column = "email"
password_column = "password_hash"
roles_column = "role"
roles = ["superadmin"]
admin_roles = ["superadmin"]

[[resources]]
name = "users"
columns = [
    { name = "id", type = "integer", primary_key = true },
    { name = "email", type = "text", required = true },
    { name = "password_hash", type = "text", backend_only = true },
    { name = "role", type = "text", required = true, default = "superadmin" },
]

[[resources]]
name = "items"
columns = [
    { name = "id", type = "integer", primary_key = true },
    { name = "title", type = "text", required = true },
    { name = "price", type = "float", required = true },
    { name = "square_meters", type = "float" },
    { name = "country", type = "text" },
    { name = "listed", type = "boolean", default = true },
    { name = "owner_id", type = "integer" },
]

[[seed]]
resource = "users"
rows = [{ email = "bench@hookline.dev", password = "bench-password", role = "superadmin" }]

[[seed]]
resource = "items"
actor = "bench@hookline.dev"
rows = [
TOML
    countries=(ua pl de)
    for i in $(seq 0 23); do
        listed=true
        [ $((i % 5)) = 4 ] && listed=false
        echo "    { title = \"Flat $i\", price = $((800 + 100 * i)).0, square_meters = $((30 + 3 * i)).5, country = \"${countries[$((i % 3))]}\", listed = $listed },"
    done
    echo "]"
} > "$1"
}

# write_wrk_scripts DIR: DIR/create.lua (POST /api/items) and DIR/edit.lua (PATCH
# /api/items/ID of a seeded item picked at random: 24 rows under 16 connections, so writes of
# one row often wait for each other).
write_wrk_scripts() {
    cat > "$1/create.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.body = '{"title":"Bench flat","price":1234.5,"square_meters":42.0,"country":"ua"}'
LUA
    cat > "$1/edit.lua" <<'LUA'
wrk.method = "PATCH"
wrk.headers["content-type"] = "application/json"
request = function()
    local body = string.format('{"price":%d.5}', math.random(100, 9999))
    return wrk.format(nil, "/api/items/" .. math.random(1, 24), nil, body)
end
LUA
}
