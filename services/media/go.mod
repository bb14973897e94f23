module github.com/connectengine/photoshoot/services/media

go 1.26.8
