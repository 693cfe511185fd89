# Installation and the Debian package (issue 17, item 6): `cmake --install`
# and `cpack -G DEB` from a build directory (README "Deployment").
#
# The package holds the server only: /usr/bin/cds (migrations, SQL
# functions, pages and openapi.yaml are embedded in it), the systemd unit,
# /etc/cds/cds.env (a conffile), the README and the deploy/ examples
# (HAProxy, pgBackRest, monitoring). cds-sim, the stand-ins, is a
# development tool and is not installed. Depends: what dpkg-shlibdeps finds
# the binary linked against, plus adduser (postinst) and the DejaVu fonts
# of receipt PDFs.
include(GNUInstallDirs)

set(CDS_VERSION 1.17.0)

install(TARGETS cds RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT server)
install(FILES ${CMAKE_SOURCE_DIR}/deploy/systemd/cds.service
        DESTINATION lib/systemd/system COMPONENT server)
install(FILES ${CMAKE_SOURCE_DIR}/deploy/cds.env DESTINATION /etc/cds COMPONENT server
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)
install(FILES ${CMAKE_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT server)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/deploy/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples
        COMPONENT server PATTERN debian EXCLUDE)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME cds)
set(CPACK_PACKAGE_VERSION ${CDS_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Cong dan so backend: dossiers, notifications, payments, e-receipts")
set(CPACK_PACKAGE_CONTACT "Cong dan so operations <ops@congdanso.tphcm.gov.vn>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, fonts-dejavu-core")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "postgresql (>= 15), pgbackrest, haproxy")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/deploy/debian/postinst ${CMAKE_SOURCE_DIR}/deploy/debian/prerm
    ${CMAKE_SOURCE_DIR}/deploy/debian/postrm ${CMAKE_SOURCE_DIR}/deploy/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
# Only the server's files, whatever else a build directory could install.
set(CPACK_COMPONENTS_ALL server)
include(CPack)
