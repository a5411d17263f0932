#ifndef AMC_CLIBPQ_SHIM_H
#define AMC_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif
