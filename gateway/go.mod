module github.com/connectengine/photoshoot/gateway

go 1.26.8

require (
	github.com/connectengine/photoshoot/pkg v0.0.0
	github.com/connectengine/photoshoot/proto v0.0.0
)

replace github.com/connectengine/photoshoot/proto => ../proto

replace github.com/connectengine/photoshoot/pkg => ../pkg
