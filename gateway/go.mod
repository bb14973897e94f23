module github.com/connectengine/photoshoot/gateway

go 1.26.8
