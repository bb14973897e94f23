module github.com/connectengine/photoshoot/services/generation

go 1.26.8
