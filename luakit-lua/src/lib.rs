//! luakit-lua
