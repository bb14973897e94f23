module github.com/connectengine/photoshoot/services/analysis

go 1.26.8
